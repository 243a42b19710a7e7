//! Templates: registering one (its source checked by its driver), new generations, listing,
//! showing and deleting.

use vsm_core::model::{Template, Unit};
use vsm_core::{Action, TemplateName, UnitName};

use super::Manager;
use crate::api::{Actor, DriverKind, GenerationInfo, RegisterTemplate, TemplateInfo};
use crate::clock::now;
use crate::engine;
use crate::error::{Entity, Error, Result};
use crate::store::{Change, StoreError};

impl Manager {
    fn template_info(t: Template, units: &[Unit]) -> Result<TemplateInfo> {
        let driver = t.driver.parse::<DriverKind>()?;
        Ok(TemplateInfo {
            latest: t.latest(),
            used_by: units
                .iter()
                .filter(|u| {
                    u.groups
                        .iter()
                        .any(|g| g.spec.provisioned().is_some_and(|p| p.template == t.name))
                })
                .map(|u| u.name.clone())
                .collect(),
            generations: t
                .generations
                .iter()
                .map(|g| GenerationInfo {
                    generation: g.generation,
                    source: g.source.clone(),
                    created_at: g.created,
                    size: g.machine_size(),
                })
                .collect(),
            name: t.name,
            owner: t.owner,
            driver,
        })
    }

    /// `vsm template register`.
    pub async fn register_template(
        &self,
        actor: &Actor,
        req: RegisterTemplate,
    ) -> Result<TemplateInfo> {
        self.check_running()?;
        self.authorize(actor, Action::TemplateRegister, None, req.name.as_str())
            .await?;
        let pooled = self
            .engine()
            .hosts
            .connected()
            .iter()
            .any(|(r, _)| r.driver() == req.driver);
        if self.engine().drivers().get(req.driver).is_none() && !pooled {
            return Err(Error::invalid_with_hint(
                format!("this manager has no {} driver", req.driver),
                format!("available drivers: {}", self.driver_words()),
            ));
        }
        let size = engine::check_template_source(self.engine(), req.driver, &req.source).await?;
        let mut t = Template::new(
            req.name.clone(),
            actor.account.clone(),
            req.driver.as_str(),
            req.source.clone(),
            now(),
        );
        t.set_latest_size(size);
        let res = self
            .write(vec![
                Change::InsertTemplate(t.clone()),
                Self::audit_entry(Some(actor), "template register", &req.name, "ok"),
            ])
            .await;
        match res {
            Err(Error::Store(StoreError::Conflict(_))) => Err(Error::invalid_with_hint(
                format!("template {} already exists", req.name),
                "add a generation with `vsm template update NAME --source SOURCE`",
            )),
            Err(e) => Err(e),
            Ok(()) => Self::template_info(t, &[]),
        }
    }

    fn driver_words(&self) -> String {
        self.engine()
            .drivers()
            .kinds()
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `vsm template update`: a new generation.
    pub async fn update_template(
        &self,
        actor: &Actor,
        name: &TemplateName,
        source: &str,
    ) -> Result<TemplateInfo> {
        self.check_running()?;
        let n = name.clone();
        let mut t = self
            .db(move |s| s.template(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Template, name))?;
        self.authorize(actor, Action::TemplateUpdate, Some(&t.owner), name.as_str())
            .await?;
        let driver = t.driver.parse::<DriverKind>()?;
        let size = engine::check_template_source(self.engine(), driver, source).await?;
        let generation = t.add_generation(source, now());
        t.set_latest_size(size);
        self.write(vec![
            Change::UpdateTemplate(t.clone()),
            Self::audit_entry(
                Some(actor),
                "template update",
                name,
                format!("generation {generation}"),
            ),
        ])
        .await?;
        let units = self.db(|s| s.units()).await?;
        Self::template_info(t, &units)
    }

    /// `vsm template list`.
    pub async fn list_templates(&self, actor: &Actor) -> Result<Vec<TemplateInfo>> {
        self.authorize(actor, Action::TemplateList, None, "templates")
            .await?;
        let (ts, units) = self.db(|s| Ok((s.templates()?, s.units()?))).await?;
        ts.into_iter()
            .map(|t| Self::template_info(t, &units))
            .collect()
    }

    /// `vsm template show`.
    pub async fn show_template(&self, actor: &Actor, name: &TemplateName) -> Result<TemplateInfo> {
        self.authorize(actor, Action::TemplateShow, None, name.as_str())
            .await?;
        let n = name.clone();
        let (t, units) = self.db(move |s| Ok((s.template(&n)?, s.units()?))).await?;
        let t = t.ok_or_else(|| Error::not_found(Entity::Template, name))?;
        Self::template_info(t, &units)
    }

    /// `vsm template delete` (refused while a unit uses it).
    pub async fn delete_template(&self, actor: &Actor, name: &TemplateName) -> Result<()> {
        let info = self.show_template(actor, name).await?;
        self.authorize(
            actor,
            Action::TemplateDelete,
            Some(&info.owner),
            name.as_str(),
        )
        .await?;
        if !info.used_by.is_empty() {
            return Err(Error::invalid_with_hint(
                format!(
                    "template {name} is used by unit(s) {}",
                    info.used_by
                        .iter()
                        .map(UnitName::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "delete those units first",
            ));
        }
        self.write(vec![
            Change::DeleteTemplate(name.clone()),
            Self::audit_entry(Some(actor), "template delete", name, "ok"),
        ])
        .await
    }
}
